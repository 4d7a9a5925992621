defmodule Linx.IPTest do
  use ExUnit.Case, async: true

  import ExUnit.CaptureIO
  import Linx.IP, only: [sigil_IP: 2]

  alias Linx.IP
  alias Linx.IP.Subnet

  doctest Linx.IP

  @random_count 10_000
  @inspect_sample 300

  setup do
    :rand.seed(:exsss, {ExUnit.configuration()[:seed], 1, 2})
    :ok
  end

  # ---------------------------------------------------------------------------
  # parse/1

  @accepted [
    {"0.0.0.0", {0, 0, 0, 0}, nil},
    {"10.0.0.5", {10, 0, 0, 5}, nil},
    {"255.255.255.255", {255, 255, 255, 255}, nil},
    {"1.20.199.250", {1, 20, 199, 250}, nil},
    {"::", {0, 0, 0, 0, 0, 0, 0, 0}, nil},
    {"::1", {0, 0, 0, 0, 0, 0, 0, 1}, nil},
    {"1::", {1, 0, 0, 0, 0, 0, 0, 0}, nil},
    {"FC00::1", {0xFC00, 0, 0, 0, 0, 0, 0, 1}, nil},
    {"fE80:0:0:0:0:0:0:Ab", {0xFE80, 0, 0, 0, 0, 0, 0, 0xAB}, nil},
    {"0001:0002:0003:0004:0005:0006:0007:0008", {1, 2, 3, 4, 5, 6, 7, 8}, nil},
    {"1:2:3:4:5:6:7::", {1, 2, 3, 4, 5, 6, 7, 0}, nil},
    {"::2:3:4:5:6:7:8", {0, 2, 3, 4, 5, 6, 7, 8}, nil},
    {"1:2:3:4:5:6:1.2.3.4", {1, 2, 3, 4, 5, 6, 0x0102, 0x0304}, nil},
    {"::ffff:1.2.3.4", {0, 0, 0, 0, 0, 0xFFFF, 0x0102, 0x0304}, nil},
    {"::FFFF:10.0.0.1", {0, 0, 0, 0, 0, 0xFFFF, 0x0A00, 0x0001}, nil},
    {"::1.2.3.4", {0, 0, 0, 0, 0, 0, 0x0102, 0x0304}, nil},
    {"64:ff9b::192.0.2.33", {0x64, 0xFF9B, 0, 0, 0, 0, 0xC000, 0x0221}, nil},
    {"fe80::1%eth0", {0xFE80, 0, 0, 0, 0, 0, 0, 1}, "eth0"},
    {"fe80::1%2", {0xFE80, 0, 0, 0, 0, 0, 0, 1}, "2"},
    {"fe80::a:b%br-lan.10", {0xFE80, 0, 0, 0, 0, 0, 0xA, 0xB}, "br-lan.10"},
    {"::ffff:1.2.3.4%veth0", {0, 0, 0, 0, 0, 0xFFFF, 0x0102, 0x0304}, "veth0"}
  ]

  @rejected [
    # empty and junk
    "",
    "x",
    "localhost",
    ".",
    ":",
    # classful, short and integer IPv4
    "10.1",
    "10.0.0",
    "10",
    "4294967295",
    # octal- and hex-looking octets
    "010.0.0.1",
    "10.00.0.1",
    "10.0.0.01",
    "0x0a.0.0.1",
    "0xa.0.0.1",
    "10.0.0.0x1",
    # out of range, signs, extra parts
    "10.0.0.256",
    "256.0.0.0",
    "1000.0.0.0",
    "10.0.0.-1",
    "+10.0.0.1",
    "10.0.0.1.",
    ".10.0.0.1",
    "10..0.1",
    "1.2.3.4.5",
    # whitespace, brackets
    " 10.0.0.1",
    "10.0.0.1 ",
    "10.0.0.1\n",
    "10.0. 0.1",
    "[::1]",
    "[::1",
    " ::1",
    "::1 ",
    "::1\t",
    # IPv4 with a zone; zones that are empty or malformed
    "1.2.3.4%eth0",
    "10.0.0.1%",
    "fe80::1%",
    "fe80::1%eth0%1",
    "fe80::1%eth 0",
    "fe80::1%eth0/64",
    "fe80::1%a\"b",
    "fe80::1%a\\b",
    "%eth0",
    # malformed IPv6
    ":::",
    "1:::2",
    "1::2::3",
    "::1::",
    ":1::2",
    "1::2:",
    "1:2:3:4:5:6:7",
    "1:2:3:4:5:6:7:8:9",
    "1::2:3:4:5:6:7:8",
    "::1:2:3:4:5:6:7:8",
    "1:2:3:4:5:6:7:8::",
    "12345::1",
    "00001::1",
    "g::1",
    "fe80::-1",
    "fe80::+1",
    "fe80:: 1",
    "0x1::1",
    # embedded IPv4 in the wrong place or malformed
    "1:2:3:4:5:6:7:1.2.3.4",
    "::1.2.3.4:5",
    "1.2.3.4::",
    "1.2.3.4::1",
    "::1.2.3",
    "::1.2.3.04",
    "::1.2.3.256",
    "::ffff:1.2.3.4.5",
    "::ffff:010.0.0.1",
    # unicode digits
    "١٠.0.0.1"
  ]

  describe "parse/1" do
    test "accepts the strict textual forms" do
      for {input, tuple, zone} <- @accepted do
        assert {:ok, %IP{} = ip} = IP.parse(input), "expected #{inspect(input)} to parse"
        assert IP.to_tuple(ip) == tuple, input
        assert ip.zone == zone, input
        assert ip.family == if(tuple_size(tuple) == 4, do: :inet, else: :inet6)
        assert byte_size(ip.bytes) == if(tuple_size(tuple) == 4, do: 4, else: 16)
      end
    end

    test "rejects everything else with {:bad_address, input}" do
      for input <- @rejected do
        assert IP.parse(input) == {:error, {:bad_address, input}},
               "expected #{inspect(input)} to be rejected"
      end
    end

    test "keeps a v4-mapped address as :inet6" do
      assert {:ok, %IP{family: :inet6, bytes: bytes}} = IP.parse("::ffff:10.0.0.1")
      assert bytes == <<0::80, 0xFFFF::16, 10, 0, 0, 1>>
    end

    test "raises ArgumentError naming a non-binary argument" do
      for bad <- [nil, :"10.0.0.1", ~c"10.0.0.1", {10, 0, 0, 1}, 42] do
        error = assert_raise ArgumentError, fn -> IP.parse(bad) end
        assert error.message =~ inspect(bad)
      end
    end
  end

  describe "parse!/1" do
    test "returns the address" do
      assert IP.parse!("10.0.0.5") == %IP{family: :inet, bytes: <<10, 0, 0, 5>>}
      assert %IP{zone: "eth0"} = IP.parse!("fe80::1%eth0")
    end

    test "raises ArgumentError naming the input" do
      for input <- ["10.1", "", "fe80::1%"] do
        assert_raise ArgumentError, ~r/#{Regex.escape(inspect(input))}/, fn ->
          IP.parse!(input)
        end
      end

      assert_raise ArgumentError, fn -> IP.parse!(nil) end
    end
  end

  # ---------------------------------------------------------------------------
  # to_string/1 and conversions

  @formatted [
    {{0, 0, 0, 0}, "0.0.0.0"},
    {{192, 168, 1, 254}, "192.168.1.254"},
    {{0, 0, 0, 0, 0, 0, 0, 0}, "::"},
    {{0, 0, 0, 0, 0, 0, 0, 1}, "::1"},
    {{0, 0, 0, 0, 0, 0, 0, 2}, "::0.0.0.2"},
    {{0, 0, 0, 0, 0, 0, 0x0A00, 1}, "::10.0.0.1"},
    {{0, 0, 0, 0, 0, 0, 1, 0}, "::0.1.0.0"},
    {{0, 0, 0, 0, 0, 0xFFFF, 0x0A00, 1}, "::ffff:10.0.0.1"},
    {{0, 0, 0, 0, 0, 0xFFFF, 0, 0}, "::ffff:0.0.0.0"},
    {{0, 0, 0, 0, 0, 0xFFFE, 0, 2}, "::fffe:0:2"},
    {{1, 0, 2, 3, 4, 5, 6, 7}, "1:0:2:3:4:5:6:7"},
    {{1, 0, 0, 2, 0, 0, 3, 4}, "1::2:0:0:3:4"},
    {{1, 0, 0, 2, 0, 0, 0, 4}, "1:0:0:2::4"},
    {{0x2001, 0xDB8, 0, 0, 1, 0, 0, 1}, "2001:db8::1:0:0:1"},
    {{0xFE80, 0, 0, 0, 0, 0, 0, 0}, "fe80::"},
    {{0xABCD, 0xEF01, 0x2345, 0x6789, 0xABCD, 0xEF01, 0x2345, 0x6789},
     "abcd:ef01:2345:6789:abcd:ef01:2345:6789"}
  ]

  describe "to_string/1" do
    test "formats as :inet.ntoa/1 does, quirks included" do
      for {tuple, text} <- @formatted do
        assert IP.to_string(IP.from_tuple(tuple)) == text
        assert text == List.to_string(:inet.ntoa(tuple))
      end
    end

    test "appends the zone" do
      assert IP.to_string(IP.parse!("FE80::1%eth0")) == "fe80::1%eth0"
      assert IP.to_string(IP.parse!("::ffff:1.2.3.4%7")) == "::ffff:1.2.3.4%7"
    end

    test "String.Chars and interpolation" do
      assert "#{~IP"10.0.0.5"}" == "10.0.0.5"
      assert "via #{~IP"fe80::1%eth0"}" == "via fe80::1%eth0"
      assert Kernel.to_string(~IP"::ffff:10.0.0.1") == "::ffff:10.0.0.1"
    end

    test "raises ArgumentError for a malformed hand-built struct" do
      for bad <- [
            %IP{family: :inet, bytes: <<1, 2, 3>>},
            %IP{family: :inet6, bytes: <<1, 2, 3, 4>>},
            %IP{family: :inet, bytes: <<0::128>>},
            %IP{family: :inet, bytes: <<1, 2, 3, 4>>, zone: "eth0"},
            %IP{family: :bogus, bytes: <<1, 2, 3, 4>>}
          ] do
        assert_raise ArgumentError, fn -> IP.to_string(bad) end
      end
    end
  end

  describe "to_tuple/1 and from_tuple/1" do
    test "are inverse" do
      for {tuple, _} <- @formatted do
        assert tuple |> IP.from_tuple() |> IP.to_tuple() == tuple
      end

      assert IP.from_tuple({10, 0, 0, 1}) == %IP{family: :inet, bytes: <<10, 0, 0, 1>>}
      assert IP.to_tuple(~IP"fe80::1%eth0") == {0xFE80, 0, 0, 0, 0, 0, 0, 1}
    end

    test "from_tuple/1 rejects anything but an :inet address tuple" do
      for bad <- [
            {256, 0, 0, 0},
            {-1, 0, 0, 0},
            {1, 2, 3},
            {0, 0, 0, 0, 0, 0, 0, 0x10000},
            {0, 0, 0, 0, 0, 0, 0, :a},
            {1.0, 0, 0, 0},
            "10.0.0.1",
            nil
          ] do
        assert_raise ArgumentError, ~r/not an :inet address tuple/, fn -> IP.from_tuple(bad) end
      end
    end
  end

  describe "family/1, v4?/1, v6?/1" do
    test "classify by family" do
      assert IP.family(~IP"10.0.0.1") == :inet
      assert IP.family(~IP"::1") == :inet6
      assert IP.family(~IP"::ffff:10.0.0.1") == :inet6
      assert IP.v4?(~IP"10.0.0.1")
      refute IP.v4?(~IP"::ffff:10.0.0.1")
      assert IP.v6?(~IP"::ffff:10.0.0.1")
      refute IP.v6?(~IP"10.0.0.1")
    end

    test "v4?/1 and v6?/1 are false for other terms" do
      for other <- ["10.0.0.1", nil, {10, 0, 0, 1}, ~IP"10.0.0.0/8"] do
        refute IP.v4?(other)
        refute IP.v6?(other)
      end
    end
  end

  describe "compare/2" do
    test "orders inet before inet6, then numerically, then by zone" do
      assert IP.compare(~IP"10.0.0.2", ~IP"10.0.0.10") == :lt
      assert IP.compare(~IP"10.0.0.10", ~IP"10.0.0.2") == :gt
      assert IP.compare(~IP"10.0.0.2", ~IP"10.0.0.2") == :eq
      assert IP.compare(~IP"255.255.255.255", ~IP"::") == :lt
      assert IP.compare(~IP"::", ~IP"0.0.0.0") == :gt
      assert IP.compare(~IP"fe80::1", ~IP"fe80::1%eth0") == :lt
      assert IP.compare(~IP"fe80::1%eth0", ~IP"fe80::1%eth1") == :lt
    end

    test "Enum.sort/2 with the module" do
      ips = [
        ~IP"::1",
        ~IP"10.0.0.10",
        ~IP"fe80::1",
        ~IP"10.0.0.9",
        ~IP"::ffff:1.1.1.1",
        ~IP"1.1.1.1"
      ]

      assert Enum.sort(ips, IP) ==
               [
                 ~IP"1.1.1.1",
                 ~IP"10.0.0.9",
                 ~IP"10.0.0.10",
                 ~IP"::1",
                 ~IP"::ffff:1.1.1.1",
                 ~IP"fe80::1"
               ]

      assert Enum.sort(ips, {:desc, IP}) == Enum.reverse(Enum.sort(ips, IP))
    end

    test "is :eq exactly when the values are equal" do
      for _ <- 1..2_000 do
        a = random_ip()
        b = if :rand.uniform(4) == 1, do: a, else: random_ip()
        assert IP.compare(a, b) == :eq == (a == b)
        assert IP.compare(a, b) == invert(IP.compare(b, a))
      end
    end
  end

  describe "encode/1 and decode/1" do
    test "round trip" do
      assert IP.encode(~IP"10.0.0.5") == <<10, 0, 0, 5>>
      assert IP.decode(<<10, 0, 0, 5>>) == ~IP"10.0.0.5"
      assert IP.decode(<<0::120, 1>>) == ~IP"::1"
      assert IP.decode(IP.encode(~IP"::ffff:1.2.3.4")) == ~IP"::ffff:1.2.3.4"
    end

    test "decode/1 answers nil for other lengths and non-binaries, never raising" do
      for len <- Enum.to_list(0..40) -- [4, 16] do
        assert IP.decode(:crypto.strong_rand_bytes(len)) == nil
      end

      for other <- [nil, <<1::3>>, <<0::33>>, 42, ~c"abcd", {1, 2, 3, 4}] do
        assert IP.decode(other) == nil
      end
    end
  end

  # ---------------------------------------------------------------------------
  # The sigil and Inspect

  describe "sigil_IP/2" do
    test "builds addresses and subnets at compile time" do
      assert ~IP"10.0.0.5" == %IP{family: :inet, bytes: <<10, 0, 0, 5>>}
      assert ~IP"fe80::1%eth0" == IP.parse!("fe80::1%eth0")
      assert ~IP"10.0.42.5/24" == %Subnet{address: ~IP"10.0.42.5", prefix: 24}
      assert ~IP"::/0" == %Subnet{address: ~IP"::", prefix: 0}
    end

    test "a bad literal fails compilation, naming it" do
      for {literal, reason} <- [
            {"10.1", "expected an IPv4 or IPv6 address"},
            {"010.0.0.1", "expected an IPv4 or IPv6 address"},
            {"fe80::1%", "expected an IPv4 or IPv6 address"},
            {"10.0.0.0/33", "expected ADDRESS/PREFIX"},
            {"10.0.0.0/", "expected ADDRESS/PREFIX"}
          ] do
        message = ~s(invalid ~IP sigil "#{literal}": #{reason})

        assert_raise ArgumentError, message, fn ->
          compile_quietly("""
          defmodule Linx.IPTest.BadSigil do
            import Linx.IP, only: [sigil_IP: 2]
            def ip, do: ~IP"#{literal}"
          end
          """)
        end
      end
    end

    test "modifiers are rejected at compile time" do
      assert_raise ArgumentError, ~r/invalid ~IP sigil "10.0.0.1": modifiers/, fn ->
        compile_quietly("""
        defmodule Linx.IPTest.BadModifier do
          import Linx.IP, only: [sigil_IP: 2]
          def ip, do: ~IP"10.0.0.1"x
        end
        """)
      end
    end
  end

  describe "Inspect" do
    test "prints the sigil" do
      assert inspect(~IP"10.0.0.5") == ~s(~IP"10.0.0.5")
      assert inspect(~IP"FE80::1%eth0") == ~s(~IP"fe80::1%eth0")
      assert inspect(~IP"::ffff:10.0.0.1") == ~s(~IP"::ffff:10.0.0.1")
      assert inspect([~IP"::1"]) == ~s([~IP"::1"])
    end

    test "falls back to the struct form for a malformed struct" do
      assert inspect(%IP{family: :inet, bytes: <<1, 2>>}) =~ "%Linx.IP{"
      assert inspect(%IP{family: :inet6, bytes: <<0::128>>, zone: ~s(a"b)}) =~ "%Linx.IP{"
    end
  end

  # ---------------------------------------------------------------------------
  # Seeded random tests, with OTP's :inet as the oracle

  describe "random IPv4" do
    test "format, parse and renderings agree with :inet" do
      for _ <- 1..@random_count do
        tuple = random_v4_tuple()
        ip = IP.from_tuple(tuple)
        text = IP.to_string(ip)

        assert text == List.to_string(:inet.ntoa(tuple))
        assert IP.parse(text) == {:ok, ip}
        assert :inet.parse_strict_address(String.to_charlist(text)) == {:ok, tuple}
        assert IP.decode(IP.encode(ip)) == ip
      end
    end
  end

  describe "random IPv6" do
    test "format, parse and renderings agree with :inet" do
      for _ <- 1..@random_count do
        tuple = random_v6_tuple()
        ip = IP.from_tuple(tuple)
        text = IP.to_string(ip)

        assert text == List.to_string(:inet.ntoa(tuple)), inspect(tuple)
        assert IP.parse(text) == {:ok, ip}
        assert :inet.parse_address(String.to_charlist(text)) == {:ok, tuple}
        assert IP.parse(String.upcase(text)) == {:ok, ip}

        long = render_uncompressed(tuple)
        assert IP.parse(long) == {:ok, ip}, long

        dotted = render_dotted_tail(tuple)
        assert IP.parse(dotted) == {:ok, ip}, dotted

        zone = random_zone()
        assert {:ok, zoned} = IP.parse(text <> "%" <> zone)
        assert zoned == %IP{ip | zone: zone}
        assert IP.to_string(zoned) == text <> "%" <> zone

        assert IP.decode(IP.encode(ip)) == ip
      end
    end

    test "the generator covers the interesting forms" do
      texts = for _ <- 1..2_000, do: IP.to_string(IP.from_tuple(random_v6_tuple()))
      assert "::" in texts
      assert "::1" in texts
      assert Enum.any?(texts, &String.starts_with?(&1, "::ffff:"))
      assert Enum.any?(texts, &Regex.match?(~r/^::\d+\.\d+\.\d+\.\d+$/, &1))
      assert Enum.count(texts, &String.contains?(&1, "::")) > 1_000
      assert Enum.any?(texts, &(not String.contains?(&1, "::")))
    end
  end

  describe "random mutations" do
    # Whatever we accept, OTP accepts as the same address (zones aside); and for
    # text without a zone we accept whatever OTP's strict parser accepts.
    test "parse/1 agrees with :inet.parse_strict_address/1" do
      for _ <- 1..@random_count do
        text = mutate(IP.to_string(random_ip()))
        otp = :inet.parse_strict_address(String.to_charlist(text))

        case IP.parse(text) do
          {:ok, %IP{zone: nil} = ip} ->
            assert otp == {:ok, IP.to_tuple(ip)}, inspect(text)

          # OTP takes zones only on fe80:: and ff02:: addresses; check the
          # address part alone.
          {:ok, %IP{zone: zone} = ip} ->
            address = String.trim_trailing(text, "%" <> zone)

            assert :inet.parse_strict_address(String.to_charlist(address)) ==
                     {:ok, IP.to_tuple(ip)}

          {:error, {:bad_address, ^text}} ->
            # OTP also takes signed octets ("+1.2.3.4", "::-0.0.0.0"); we do not.
            if String.valid?(text) and not String.contains?(text, ["%", "+", "-"]) do
              assert match?({:error, _}, otp), inspect(text)
            end
        end
      end
    end
  end

  describe "Inspect round trip" do
    test "inspect output evaluates back to the same value" do
      values = for _ <- 1..@inspect_sample, do: with_random_zone(random_ip())

      source =
        "import Linx.IP, only: [sigil_IP: 2]\n[" <> Enum.map_join(values, ", ", &inspect/1) <> "]"

      assert {^values, _} = Code.eval_string(source)
    end
  end

  # ---------------------------------------------------------------------------
  # Helpers

  defp compile_quietly(source) do
    capture_io(:stderr, fn -> send(self(), {:compiled, Code.compile_string(source)}) end)
  end

  defp invert(:lt), do: :gt
  defp invert(:gt), do: :lt
  defp invert(:eq), do: :eq

  defp random_ip do
    if :rand.uniform(2) == 1,
      do: IP.from_tuple(random_v4_tuple()),
      else: IP.from_tuple(random_v6_tuple())
  end

  defp with_random_zone(%IP{family: :inet6} = ip) do
    if :rand.uniform(4) == 1, do: %IP{ip | zone: random_zone()}, else: ip
  end

  defp with_random_zone(ip), do: ip

  defp random_v4_tuple do
    octet = fn ->
      case :rand.uniform(6) do
        1 -> 0
        2 -> 255
        3 -> :rand.uniform(10) - 1
        _ -> :rand.uniform(256) - 1
      end
    end

    {octet.(), octet.(), octet.(), octet.()}
  end

  # IPv6 with zero groups heavily over-represented, plus the special shapes
  # whose formatting :inet.ntoa/1 treats differently.
  defp random_v6_tuple do
    case :rand.uniform(20) do
      1 -> {0, 0, 0, 0, 0, 0, 0, 0}
      2 -> {0, 0, 0, 0, 0, 0, 0, 1}
      3 -> {0, 0, 0, 0, 0, 0xFFFF, random_group(), random_group()}
      4 -> {0, 0, 0, 0, 0, 0xFFFF, biased_group(), biased_group()}
      5 -> {0, 0, 0, 0, 0, 0, random_group(), random_group()}
      6 -> {0, 0, 0, 0, 0, 0, biased_group(), biased_group()}
      7 -> {0, 0, 0, 0, 0xFFFF, 0, random_group(), random_group()}
      8 -> {0, 0, 0, 0, 0, biased_group(), biased_group(), biased_group()}
      9 -> List.to_tuple(for _ <- 1..8, do: random_group())
      _ -> List.to_tuple(for _ <- 1..8, do: biased_group())
    end
  end

  defp random_group, do: :rand.uniform(0x10000) - 1

  defp biased_group do
    case :rand.uniform(10) do
      n when n <= 5 -> 0
      6 -> 1
      7 -> 0xFFFF
      8 -> :rand.uniform(0x100) - 1
      _ -> random_group()
    end
  end

  # Eight groups, each zero-padded to a random width and in random letter case.
  defp render_uncompressed(tuple) do
    tuple |> Tuple.to_list() |> Enum.map_join(":", &render_group/1)
  end

  # Six groups, then the last 32 bits as a dotted quad; "::" never used.
  defp render_dotted_tail(tuple) do
    [a, b, c, d, e, f, g, h] = Tuple.to_list(tuple)
    <<o1, o2, o3, o4>> = <<g::16, h::16>>
    Enum.map_join([a, b, c, d, e, f], ":", &render_group/1) <> ":#{o1}.#{o2}.#{o3}.#{o4}"
  end

  defp render_group(group) do
    hex = Integer.to_string(group, 16)
    width = max(byte_size(hex), :rand.uniform(4))
    padded = String.pad_leading(hex, width, "0")

    for <<c <- padded>>, into: "" do
      if :rand.uniform(2) == 1, do: String.downcase(<<c>>), else: <<c>>
    end
  end

  defp random_zone do
    case :rand.uniform(3) do
      1 -> Integer.to_string(:rand.uniform(4096))
      2 -> "eth" <> Integer.to_string(:rand.uniform(64) - 1)
      3 -> Enum.random(["wlp3s0", "br-lan.10", "veth_a:b", "lo", "tun+0", "x"])
    end
  end

  @mutation_chars ~c"0123456789abcdefABCDEF:.%/ []x-+"

  defp mutate(text) do
    Enum.reduce(1..:rand.uniform(3), text, fn _, acc -> mutate_once(acc) end)
  end

  defp mutate_once(text) do
    size = byte_size(text)
    at = :rand.uniform(size + 1) - 1
    <<before::binary-size(at), rest::binary>> = text
    char = <<Enum.random(@mutation_chars)>>

    case {:rand.uniform(5), rest} do
      {1, <<_, tail::binary>>} -> before <> tail
      {2, <<_, tail::binary>>} -> before <> char <> tail
      {3, <<c, tail::binary>>} -> before <> <<c, c>> <> tail
      {4, _} -> before <> "::" <> rest
      _ -> before <> char <> rest
    end
  end
end
