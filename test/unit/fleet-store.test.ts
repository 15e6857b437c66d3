import { MemoryFleetStore } from '../../src/state/fleet.js';
import { fleetStoreContract } from '../contract/fleet-store.contract.js';

fleetStoreContract('memory', async () => ({ store: new MemoryFleetStore(), cleanup: async () => {} }));
