import { installTemporalLogging } from '../../worker/logging.js';

// Test workers start and stop many times, and replay tests provoke nondeterminism on purpose:
// their INFO lines and Core's expected warnings would bury the test output.
installTemporalLogging('warn', { core: 'ERROR' });
