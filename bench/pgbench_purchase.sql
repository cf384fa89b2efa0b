-- The bare conditional UPDATE of a purchase, as pgbench runs it (one statement per transaction).
UPDATE sweets SET quantity = quantity - 1, updated_at = now()
 WHERE id = :sweet AND quantity >= 1 AND archived_at IS NULL
 RETURNING id, name, category, price, quantity;
