export { renderTable, tableFormats } from './table';
export type { Cell, Column, Table, TableFormat } from './table';
