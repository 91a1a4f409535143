ALTER TABLE result_cells RESET (toast_tuple_target);
