"""Traffic control for cutover and rollback: the HAProxy runtime API (haproxy, fleet),
drain and switch logic (switch), direct server checks (probe), RabbitMQ queue depth
(broker), keepalived VIP moves (keepalived), the plan's step actions (actions), the
ha/ templates (templates) and a bounded load generator (loadgen)."""
