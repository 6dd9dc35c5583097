# A local_settings.d snippet: horizon reads it after local_settings.py.
AVAILABLE_THEMES = [
    ('default', 'Default', 'themes/default'),
]
USE_L10N = False
