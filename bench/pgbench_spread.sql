-- The bare conditional UPDATE spread over BENCH's range of sweets.
\set sweet random(:first, :last)
UPDATE sweets SET quantity = quantity - 1, updated_at = now()
 WHERE id = :sweet AND quantity >= 1 AND archived_at IS NULL
 RETURNING id, name, category, price, quantity;
