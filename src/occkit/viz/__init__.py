"""occkit.viz"""
