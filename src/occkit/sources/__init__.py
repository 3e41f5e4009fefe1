"""occkit.sources"""
