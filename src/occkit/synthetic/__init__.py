"""occkit.synthetic"""
