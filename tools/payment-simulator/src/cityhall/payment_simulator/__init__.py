"""ポケットペイ, a simulated payment provider: what the city hall's services pay through in development and tests."""
