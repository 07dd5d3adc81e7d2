"""melt.annotate"""
