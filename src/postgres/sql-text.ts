// Small helpers for writing SQL text; no values ever go through them (those are always $n parameters).

/** A timestamptz as the server's own text: UTC, microseconds, ISO 8601 (JavaScript Dates would drop microseconds). */
export const utcText = (column: string): string =>
  `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
