/** The store's data types that commands use, re-exported so commands/ depends on the core alone. */
export { QUOTA_LIMITS } from '../store/types.ts';
export type {
  AssistantThread,
  DailySpendRow,
  LedgerEntry,
  LedgerGroupKey,
  LedgerTotalsRow,
  QuotaLimitName,
  QuotaSubject,
  RecordedFile,
  SatisfactionRow,
  UsageTotals,
} from '../store/types.ts';
