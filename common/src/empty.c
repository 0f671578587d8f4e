/* Keeps a service library non-empty before its first source file lands. */
typedef int xd_empty_translation_unit;
