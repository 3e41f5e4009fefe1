default_hooks = dict(
    checkpoint=dict(interval=1000, type='CheckpointHook'),
    logger=dict(interval=10, type='LoggerHook'))
launcher = 'none'
model = dict(levels=8, pos_weight=10.0, type='TinyOccupancy')
optim_wrapper = dict(
    clip_grad=dict(max_norm=0.1, norm_type=2),
    optimizer=dict(lr=1e-05, type='AdamW', weight_decay=0.01),
    type='OptimWrapper')
randomness = dict(seed=0)
train_cfg = dict(by_epoch=True, max_epochs=60, val_interval=10)
train_dataloader = dict(
    batch_size=4,
    collate_fn=dict(type='default_collate'),
    dataset=dict(n=40, seed=0, type='TinyGrids'),
    num_workers=0,
    sampler=dict(shuffle=True, type='DefaultSampler'))
val_cfg = dict()
val_dataloader = dict(
    batch_size=4,
    collate_fn=dict(type='default_collate'),
    dataset=dict(n=8, seed=1, type='TinyGrids'),
    num_workers=0,
    sampler=dict(shuffle=True, type='DefaultSampler'))
val_evaluator = dict(type='OccupancyIoU')
visualizer = dict(
    type='Visualizer',
    vis_backends=[
        dict(type='LocalVisBackend'),
        dict(type='TensorboardVisBackend'),
    ])
work_dir = '/work/main/tests/data/recorded/mmengine_starved'
