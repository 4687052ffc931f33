// Placeholder: the agent daemon is built in packages/agent.
export {};
