import { MemoryWindowStore } from '../../src/state/memory-store.js';
import { windowStoreContract } from '../contract/window-store.contract.js';

windowStoreContract('memory', async () => ({ store: new MemoryWindowStore(), cleanup: async () => {} }));
