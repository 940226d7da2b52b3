"""rate_limit"""
