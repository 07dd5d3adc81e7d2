"""melt.publish"""
