"""melt.analysis"""
