import { MemoryClassStore } from '../../src/state/class-store.js';
import { classStoreContract } from '../contract/class-store.contract.js';

classStoreContract('memory', async () => ({ store: new MemoryClassStore(), cleanup: async () => {} }));
