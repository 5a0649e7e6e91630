"""Pure statistics shared by stages: performance estimation, sequential tests, routing, bandits."""
