"""slamon"""
