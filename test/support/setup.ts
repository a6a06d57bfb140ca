import { installTemporalLogging } from '../../worker/logging.js';

// Test workers start and stop many times; their INFO lines would bury the test output.
installTemporalLogging('warn');
