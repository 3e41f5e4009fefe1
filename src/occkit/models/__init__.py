"""occkit.models"""
