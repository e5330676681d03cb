"""What 6clicks holds: directory snapshots, their diff, the read model of people, groups and roles."""
