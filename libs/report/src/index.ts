export { BAR_COLOR, renderTable, tableFormats } from './table';
export type { Cell, Column, Table, TableFormat } from './table';
