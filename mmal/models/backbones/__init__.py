# Nothing is imported here: each backbone module registers itself in its toolbox's
# registry and needs that toolbox, so configs import it by name (custom_imports).
