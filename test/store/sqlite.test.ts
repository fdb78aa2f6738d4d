import { sqliteFileDatabase, sqliteMemoryDatabase } from './harness.ts';
import { describeStoreContract } from './store-contract.ts';

describeStoreContract('sqlite file', sqliteFileDatabase);
describeStoreContract('sqlite :memory:', sqliteMemoryDatabase);
