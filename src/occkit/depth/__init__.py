"""occkit.depth"""
