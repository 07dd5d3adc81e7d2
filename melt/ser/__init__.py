"""melt.ser"""
