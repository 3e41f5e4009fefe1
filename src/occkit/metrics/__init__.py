"""occkit.metrics"""
