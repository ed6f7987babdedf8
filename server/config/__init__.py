"""config.toml, loaded once at start-up into frozen values.

Every other component receives the section it needs as a constructor
argument; nothing else reads the file or the environment. The values and
their defaults are in `values`, the reading and checking of the file in
`loading`.
"""

from server.config.loading import expand_env, load_config
from server.config.values import (
    DEFAULT_DATABASE_URL,
    DEFAULT_FUNCTIONS_DIR,
    AuthConfig,
    Config,
    DatabaseConfig,
    FunctionsConfig,
    Limits,
    S3Config,
    ServerConfig,
    StorageConfig,
)

__all__ = [
    "DEFAULT_DATABASE_URL",
    "DEFAULT_FUNCTIONS_DIR",
    "AuthConfig",
    "Config",
    "DatabaseConfig",
    "FunctionsConfig",
    "Limits",
    "S3Config",
    "ServerConfig",
    "StorageConfig",
    "expand_env",
    "load_config",
]
