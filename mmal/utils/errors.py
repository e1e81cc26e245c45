class InputError(ValueError):
    """Bad input (a setting, a file, a state): the message names the file or
    setting and the fix. The tools print it as one ``error:`` line, without a
    traceback."""
