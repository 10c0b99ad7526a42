#!/usr/bin/perl
# styles.pl - build styles.tsv (the groove catalogue) from genres.tsv, voices.tsv
# and the installed MMA library: one line per usable groove, with its active
# tracks and their voices. Run by `make styles` (a maintainer step; styles.tsv
# is committed so that a corpus build does not depend on parsing MMA's docs).
#
#   perl styles.pl genres.tsv voices.tsv > styles.tsv
#
# Uses `mma -Djs FILE` (MMA's JSON groove dump). A groove is used unless its
# name marks an intro, ending, fill or break, or it has no pitched track.
use strict;
use warnings;
use JSON::PP;
use File::Temp qw(tempdir);

my ($genres, $voices) = @ARGV;
my $libdir = $ENV{MMA_LIB} // '/usr/share/mma/lib';
my $tmpdir = tempdir(CLEANUP => 1);

my %voice;
open my $vf, '<', $voices or die "$voices: $!\n";
while (<$vf>) {
	chomp;
	next if /^#/ || !/\S/;
	my ($name, $kind) = split /\t/;
	$voice{"$kind $name"} = 1;
}
close $vf;

print join("\t", qw(ref file groove genre lo hi meter beats harmony feel tracks)), "\n";
my ($nfile, $ngroove, $nskip) = (0, 0, 0);
my (@lines, %index);
open my $gf, '<', $genres or die "$genres: $!\n";
while (<$gf>) {
	chomp;
	next if /^#/ || !/\S/;
	my ($file, $genre, $lo, $hi, $meter, $harmony, $feel) = split /\t/;
	my $path = "$libdir/$file.mma";
	-f $path or die "styles: $path missing\n";
	# quarters per bar: the file's Time command (MMA's default is 4)
	my $beats = 4;
	open my $mf, '<', $path or die "$path: $!\n";
	while (<$mf>) {
		if (/^\s*time\s+(\d+)\s*$/i) { $beats = $1; last; }
	}
	close $mf;
	# MMA's JSON dump leaves out grooves defined without a description: dump
	# a copy in which every DefGroove has one
	my $copy = "$tmpdir/" . (split m{/}, $path)[-1];
	open my $in, '<', $path or die "$path: $!\n";
	open my $cp, '>', $copy or die "$copy: $!\n";
	while (<$in>) {
		s/^(\s*defgroove\s+\S+)\s*$/$1 (no description)\n/i;
		print $cp $_;
	}
	close $in;
	close $cp;
	my $out = `mma -Djs '$copy' 2>/dev/null`;
	unlink $copy;
	$? == 0 or die "styles: mma -Djs $path failed\n";
	$out =~ s/^.*?^JSON\s*$//ms or die "styles: no JSON from $path\n";
	my $list = decode_json($out);
	$nfile++;
	for my $g (@$list) {
		my $name = $g->{groove};
		if ($name =~ /intro|fill|break/i || $name =~ /end(ing)?\d*(sus|plus|[a-z])?$/i ||
		    ($file =~ m{^pflib/} && $name =~ /(F[AB]|E)$/)) {
			$nskip++;
			next;
		}
		my (@tracks, $pitched);
		for my $t (sort { $a->{track} cmp $b->{track} } @{$g->{tracks}}) {
			next unless grep { !/^\s*z?\s*$/ } @{$t->{sequence}};
			my $kind = $t->{track} =~ /^DRUM/ ? 'D' : 'I';
			my (%seen, @v);
			for (@{$t->{voice}}) { push @v, $_ unless $seen{$_}++; }
			for (@v) { exists $voice{"$kind $_"} or die "styles: $file:$name: voice '$_' ($kind) not in $voices\n"; }
			$pitched = 1 if $kind eq 'I';
			push @tracks, "$t->{track}=" . join('/', @v);
		}
		unless ($pitched) {
			$nskip++;
			next;
		}
		# a name defined twice in a file: MMA keeps the last definition
		my $line = join("\t", "$file:$name", $file, $name, $genre, $lo, $hi, $meter, $beats, $harmony, $feel,
				 join(',', @tracks)) . "\n";
		my $key = lc "$file:$name";
		if (exists $index{$key}) {
			$lines[$index{$key}] = $line;
			next;
		}
		$index{$key} = @lines;
		push @lines, $line;
		$ngroove++;
	}
}
close $gf;
print @lines;
print STDERR "styles: $nfile files, $ngroove grooves ($nskip intros/endings/fills/breaks or drum-only left out)\n";
