/** The tests' free ports come from the same helper `npm start` uses (never 6379: the OS picks them). */
export { freePort } from '../../shared/net/free-port.js';
