DROP INDEX responses_cell;
