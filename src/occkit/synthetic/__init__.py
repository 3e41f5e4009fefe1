"""The built-in synthetic world: train and test occkit with no download, against exact ground truth.

Modules, in data-flow order:
    classes      class table; maps to Occ3D 0-16 (17 = free) and UAVScenes-like ids
    scene        procedural scenes from a seed: analytic terrain + boxes, ellipsoids, cylinders
                 (presets ``uav_town``, ``uav_valley``, ``street``)
    raycast      vectorized exact ray casting with direction-binned culling
    sensors      spinning LiDAR, Livox-Avia-like rosette, pinhole camera (depth, semantics, shaded RGB)
    monodepth    a Depth-Anything-like degradation of true depth (scale/shift, noise, smeared edges, no sky)
    rig          sensor mounts, trajectories, the ego frame
    world        one sample from (config, split, index); ``SyntheticSample.to_frame()``
    groundtruth  semantic grid from accumulated LiDAR, LiDAR/camera visibility masks, solid occupancy
    writers      UAVScenes and Occ3D/nuScenes on-disk layouts

The Source is ``occkit.sources.synthetic.SyntheticSourceConfig(...).build(split)``; the CLI is ``occkit synth``.
"""
