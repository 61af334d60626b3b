'use strict';

class ConfigError extends Error {}
ConfigError.prototype.name = 'ConfigError';

throw new ConfigError('missing configuration');
