"""melt.acoustics"""
