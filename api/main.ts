import { runService } from '../shared/run-service.js';
import { startApi } from './server.js';

/** The API process: runs until SIGTERM / SIGINT, then drains (SHUTDOWN_GRACE_MS). */
void runService('api', (config, logger) => startApi(config, logger));
