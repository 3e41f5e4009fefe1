"""occkit.io"""
