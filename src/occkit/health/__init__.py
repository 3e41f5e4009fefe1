"""occkit.health"""
