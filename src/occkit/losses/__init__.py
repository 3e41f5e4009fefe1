"""occkit.losses"""
