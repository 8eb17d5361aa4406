import { MemoryDocStorage } from '../../../shared/storage/doc-storage.js';
import { docStorageContract } from '../../contracts/doc-storage.contract.js';

docStorageContract('MemoryDocStorage', () => {
  // The backing map plays the disk: a new instance over it is a restart.
  const backing = new Map<string, Uint8Array[]>();
  let storage = new MemoryDocStorage(backing);
  return {
    storage,
    reopen() {
      storage.close();
      storage = new MemoryDocStorage(backing);
      return storage;
    },
  };
});
