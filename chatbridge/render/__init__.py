"""Turning forum content into what each chat platform displays, without amplifying members' text."""
