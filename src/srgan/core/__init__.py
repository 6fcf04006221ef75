"""The leaves every other part stands on, torch-free but ``runtime``: the configuration, every
path, file writing, the paper's constants, the five variants and what makes two runs the same.
"""
