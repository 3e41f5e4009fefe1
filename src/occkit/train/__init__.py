"""occkit.train"""
