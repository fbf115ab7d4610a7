"""test infrastructure, not product"""
