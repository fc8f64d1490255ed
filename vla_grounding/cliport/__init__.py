"""cliport"""
